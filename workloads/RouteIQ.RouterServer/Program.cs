using RouteIQ.RouterServer;

return await RouterServerApp.RunAsync(args);
