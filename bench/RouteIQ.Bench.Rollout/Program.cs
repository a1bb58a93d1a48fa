using RouteIQ.Bench.Rollout;

// dotnet run -c Release --project bench/RouteIQ.Bench.Rollout [-- --rate 1000 --seconds 10 --rounds 3 --rolls 5]
// `serve` is the serving workload the harness rolls out (it starts itself through the launcher).
return args.Length > 0 && args[0] == "serve"
    ? await ServeMode.RunAsync()
    : await StableEndpointBench.RunAsync(args);
