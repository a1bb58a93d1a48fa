# routeiq/router-server for registries: multi-stage, framework-dependent, non-root.
# Build from the repository root:
#   docker build -f deploy/images/router-server.Dockerfile -t routeiq/router-server .
# (For local tests without any registry, scripts/build-images.sh builds the same program into
#  an image made with docker import.)
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY Directory.Build.props Directory.Packages.props ./
COPY shared/RouteIQ.Contracts/RouteIQ.Contracts.csproj shared/RouteIQ.Contracts/
COPY shared/RouteIQ.Artifacts/RouteIQ.Artifacts.csproj shared/RouteIQ.Artifacts/
COPY shared/RouteIQ.Routing/RouteIQ.Routing.csproj shared/RouteIQ.Routing/
COPY workloads/RouteIQ.RouterServer/RouteIQ.RouterServer.csproj workloads/RouteIQ.RouterServer/
RUN dotnet restore workloads/RouteIQ.RouterServer/RouteIQ.RouterServer.csproj
COPY shared/RouteIQ.Contracts/ shared/RouteIQ.Contracts/
COPY shared/RouteIQ.Artifacts/ shared/RouteIQ.Artifacts/
COPY shared/RouteIQ.Routing/ shared/RouteIQ.Routing/
COPY workloads/RouteIQ.RouterServer/ workloads/RouteIQ.RouterServer/
RUN dotnet publish workloads/RouteIQ.RouterServer/RouteIQ.RouterServer.csproj -c Release --no-restore -o /app -p:DebugType=none

FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app
COPY --from=build /app ./
ENV DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 DOTNET_gcServer=0
ENV SERVE_PORT=8080 MODEL_CACHE_DIR=/tmp/routeiq-model-cache
EXPOSE 8080
USER $APP_UID
ENTRYPOINT ["dotnet", "/app/RouteIQ.RouterServer.dll"]
