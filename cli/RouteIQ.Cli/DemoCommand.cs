using System.CommandLine;

namespace RouteIQ.Cli;

/// <summary><c>routeiq demo</c>: the whole loop on the embedded defaults.</summary>
public static class DemoCommand
{
    public static Command Build()
    {
        var command = new Command("demo", "Run the whole loop in this process: telemetry → dataset → train → roll out → route queries");
        command.SetAction((_, _) =>
        {
            Output.Error("demo: not available in this build yet; use `routeiq up`");
            return Task.FromResult(ExitCodes.Usage);
        });
        return command;
    }
}
