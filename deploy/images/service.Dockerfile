# syntax=docker/dockerfile:1
# One Dockerfile for the four services; build from the repository root, e.g.
#   docker build -f deploy/images/service.Dockerfile \
#     --build-arg SERVICE=gateway-admin --build-arg PROJECT=RouteIQ.GatewayAdmin --build-arg PORT=8080 \
#     -t routeiq/gateway-admin:dev .
# docker compose (deploy/docker-compose.yml) passes the arguments for each service.
ARG SERVICE=gateway-admin
ARG PROJECT=RouteIQ.GatewayAdmin
ARG PORT=8080

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
ARG SERVICE
ARG PROJECT
WORKDIR /src
COPY . .
RUN dotnet publish services/${SERVICE}/${PROJECT}.csproj -c Release -o /app /p:UseAppHost=false

FROM mcr.microsoft.com/dotnet/aspnet:10.0
ARG PROJECT
ARG PORT
# curl only for the health check below.
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app .
ENV ASPNETCORE_URLS=http://0.0.0.0:${PORT} \
    RouteIQ__DataDir=/var/lib/routeiq \
    ROUTEIQ_ENTRY=${PROJECT}.dll \
    ROUTEIQ_PORT=${PORT}
RUN mkdir -p /var/lib/routeiq && chown $APP_UID /var/lib/routeiq
USER $APP_UID
EXPOSE ${PORT}
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD curl -fsS "http://127.0.0.1:${ROUTEIQ_PORT}/health/ready" || exit 1
ENTRYPOINT ["/bin/sh", "-c", "exec dotnet \"$ROUTEIQ_ENTRY\""]
