import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";
import tailwindcss from "@tailwindcss/vite";

// The proxy serves the build at /dashboard/ from ollama_proxy/_dashboard (carried by the wheel).
const target = process.env.PROXY_TARGET || process.env.VITE_PROXY_TARGET || "http://127.0.0.1:11435";

export default defineConfig({
  base: "/dashboard/",
  plugins: [react(), tailwindcss()],
  build: {
    outDir: "../ollama_proxy/_dashboard",
    emptyOutDir: true,
    // Pages are lazy and only pages import Recharts, so it lands in an async chunk by itself.
  },
  server: {
    port: 3000,
    proxy: { "/api": target, "/metrics": target },
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
  },
});
