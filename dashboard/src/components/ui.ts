// Tailwind class strings used in several places.
export const PANEL = "rounded-xl border border-slate-200 bg-white p-4 shadow-sm dark:border-slate-800 dark:bg-slate-900";
export const MUTED = "text-sm text-slate-500 dark:text-slate-400";
export const BUTTON =
  "rounded-md border border-slate-300 px-2 py-1 text-sm hover:bg-slate-100 dark:border-slate-700 dark:hover:bg-slate-800";
export const INPUT =
  "rounded-md border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-900";
export const COLORS = ["#6366f1", "#f59e0b", "#ef4444", "#10b981", "#0ea5e9"];
