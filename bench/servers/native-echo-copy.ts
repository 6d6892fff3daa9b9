// native-echo.ts with `copyChunks: true`: each chunk an owned copy, as Switchboard's `data` promises.
process.env.BENCH_NATIVE_COPY = '1';
await import('./native-echo.ts');
