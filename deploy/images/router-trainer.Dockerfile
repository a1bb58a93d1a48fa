# routeiq/router-trainer for registries: multi-stage, framework-dependent, non-root.
# Build from the repository root:
#   docker build -f deploy/images/router-trainer.Dockerfile -t routeiq/router-trainer .
# (For local tests without any registry, scripts/build-images.sh builds the same program into
#  an image made with docker import.)
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY Directory.Build.props Directory.Packages.props ./
COPY shared/RouteIQ.Contracts/RouteIQ.Contracts.csproj shared/RouteIQ.Contracts/
COPY shared/RouteIQ.Artifacts/RouteIQ.Artifacts.csproj shared/RouteIQ.Artifacts/
COPY shared/RouteIQ.Routing/RouteIQ.Routing.csproj shared/RouteIQ.Routing/
COPY workloads/RouteIQ.RouterTrainer/RouteIQ.RouterTrainer.csproj workloads/RouteIQ.RouterTrainer/
RUN dotnet restore workloads/RouteIQ.RouterTrainer/RouteIQ.RouterTrainer.csproj
COPY shared/RouteIQ.Contracts/ shared/RouteIQ.Contracts/
COPY shared/RouteIQ.Artifacts/ shared/RouteIQ.Artifacts/
COPY shared/RouteIQ.Routing/ shared/RouteIQ.Routing/
COPY workloads/RouteIQ.RouterTrainer/ workloads/RouteIQ.RouterTrainer/
RUN dotnet publish workloads/RouteIQ.RouterTrainer/RouteIQ.RouterTrainer.csproj -c Release --no-restore -o /app -p:DebugType=none

FROM mcr.microsoft.com/dotnet/runtime:10.0
WORKDIR /app
COPY --from=build /app ./
ENV DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 DOTNET_gcServer=0
ENV ROUTEIQ_OUTPUT_DIR=/output
RUN mkdir -p /output && chown $APP_UID /output
VOLUME /output
USER $APP_UID
ENTRYPOINT ["dotnet", "/app/RouteIQ.RouterTrainer.dll"]
