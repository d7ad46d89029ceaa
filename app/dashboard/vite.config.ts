import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// The SDK is used from source: no separate build step before the dashboard's.
export default defineConfig({
  base: "./",
  resolve: {
    alias: { "@xmargin/sdk": fileURLToPath(new URL("../sdk/src/index.ts", import.meta.url)) },
  },
  build: { target: "es2022", outDir: "dist", emptyOutDir: true },
});
