using RouteIQ.RouterTrainer;

return await TrainerApp.RunAsync(args, Environment.GetEnvironmentVariables(), Console.Out, Console.Error, CancellationToken.None);
