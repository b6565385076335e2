import { defineConfig } from 'vite';

// The bundle lands in dist/, which services/api embeds (go:embed): every
// asset under /assets/ with its content hash in the name, no inline
// script (the API serves a CSP without 'unsafe-inline').
export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 600,
  },
});
