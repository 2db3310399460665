// Shared dashboard state: time range, theme (follows the system until toggled), refresh.
import { createContext, useContext, useEffect, useMemo, useState, type ReactNode } from "react";

export const TIME_RANGES = ["1h", "6h", "24h", "7d"] as const;
export type TimeRange = (typeof TIME_RANGES)[number];
type Theme = "light" | "dark";

interface SettingsValue {
  range: TimeRange;
  setRange: (r: TimeRange) => void;
  theme: Theme;
  toggleTheme: () => void;
  paused: boolean;
  setPaused: (p: boolean) => void;
  refreshMs: number;
}

const SettingsContext = createContext<SettingsValue | null>(null);

function systemTheme(): Theme {
  return window.matchMedia?.("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

export function SettingsProvider({ children, refreshMs = 5000 }: { children: ReactNode; refreshMs?: number }) {
  const [range, setRange] = useState<TimeRange>("1h");
  const [theme, setTheme] = useState<Theme>(() => (localStorage.getItem("theme") as Theme) || systemTheme());
  const [paused, setPaused] = useState(false);

  useEffect(() => {
    document.documentElement.classList.toggle("dark", theme === "dark");
  }, [theme]);

  const value = useMemo<SettingsValue>(
    () => ({
      range,
      setRange,
      theme,
      toggleTheme: () => {
        const next = theme === "dark" ? "light" : "dark";
        localStorage.setItem("theme", next);
        setTheme(next);
      },
      paused,
      setPaused,
      refreshMs,
    }),
    [range, theme, paused, refreshMs],
  );
  return <SettingsContext.Provider value={value}>{children}</SettingsContext.Provider>;
}

export function useSettings(): SettingsValue {
  const value = useContext(SettingsContext);
  if (!value) throw new Error("useSettings outside SettingsProvider");
  return value;
}
