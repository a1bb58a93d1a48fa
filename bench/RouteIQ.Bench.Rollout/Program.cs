using RouteIQ.Bench.Rollout;

// dotnet run -c Release --project bench/RouteIQ.Bench.Rollout [-- --rate 1000 --seconds 10 --rounds 3 --rolls 5 [--in-process-client] [--promotion] [--no-caddy]]
// `serve` is the serving workload the harness rolls out (it starts itself through the launcher);
// `load` is the client process the harness starts for each measured phase.
return args.FirstOrDefault() switch
{
    "serve" => await ServeMode.RunAsync(args.Length > 2 && args[1] == "--fail" ? double.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 0),
    "load" => await LoadGenerator.RunProcessAsync(args),
    _ => await StableEndpointBench.RunAsync(args),
};
