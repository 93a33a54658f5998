import { defineConfig } from 'vite';

// Plain Vite + Preact through esbuild's automatic JSX runtime: no extra plugins.
export default defineConfig({
  base: '/',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    emptyOutDir: true,
    sourcemap: false,
    target: 'es2020',
  },
  server: {
    // `npm run dev` against a server on :8080 (override with CONV_SERVER).
    proxy: {
      '/api': process.env.CONV_SERVER || 'http://127.0.0.1:8080',
      '/socket.io': { target: process.env.CONV_SERVER || 'http://127.0.0.1:8080', ws: true },
    },
  },
  test: { include: ['test/**/*.test.js'], environment: 'node' },
});
