using RouteIQ.Bench.Routing;

return await BenchProgram.RunAsync(args);
