using System.Net.Sockets;
using Microsoft.Extensions.Configuration;

namespace RouteIQ.ServiceDefaults;

public enum BusTransport
{
    InMemory,
    RabbitMq,
}

/// <summary>
/// The bus a process uses: <c>RouteIQ:Bus:Transport</c> = InMemory | RabbitMq, with
/// <c>ConnectionStrings:RabbitMq</c> (an amqp:// URI). RabbitMq when the connection string is
/// set and nothing else is configured; otherwise InMemory.
/// </summary>
public sealed record BusSettings(BusTransport Transport, RabbitMqEndpoint? RabbitMq)
{
    public const string TransportKey = "RouteIQ:Bus:Transport";
    public const string ConnectionStringKey = "ConnectionStrings:RabbitMq";

    public static BusSettings From(IConfiguration configuration)
    {
        var connectionString = configuration.GetConnectionString("RabbitMq");
        var transportText = configuration[TransportKey];

        BusTransport transport;
        if (string.IsNullOrWhiteSpace(transportText))
        {
            transport = string.IsNullOrWhiteSpace(connectionString) ? BusTransport.InMemory : BusTransport.RabbitMq;
        }
        else if (!Enum.TryParse(transportText.Trim(), ignoreCase: true, out transport) || !Enum.IsDefined(transport))
        {
            throw new RouteIQConfigurationException(TransportKey,
                $"unknown transport '{transportText}' (expected InMemory or RabbitMq)");
        }

        if (transport == BusTransport.InMemory)
        {
            return new BusSettings(transport, null);
        }

        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new RouteIQConfigurationException(ConnectionStringKey,
                "is required when RouteIQ:Bus:Transport is RabbitMq (e.g. amqp://guest:guest@127.0.0.1:5672/)");
        }

        return new BusSettings(transport, RabbitMqEndpoint.Parse(connectionString, ConnectionStringKey));
    }
}

/// <summary>A parsed <c>amqp://user:password@host:port/vhost</c> URI. <see cref="ToString"/> never shows the password.</summary>
public sealed record RabbitMqEndpoint(string Host, int Port, string VirtualHost, string Username, string Password, bool UseTls)
{
    public static RabbitMqEndpoint Parse(string connectionString, string key)
    {
        if (!Uri.TryCreate(connectionString.Trim(), UriKind.Absolute, out var uri)
            || uri.Scheme is not ("amqp" or "amqps" or "rabbitmq" or "rabbitmqs")
            || string.IsNullOrEmpty(uri.Host))
        {
            throw new RouteIQConfigurationException(key,
                "malformed connection string (expected an amqp://user:password@host:port/vhost URI)");
        }

        var tls = uri.Scheme is "amqps" or "rabbitmqs";
        var port = uri.IsDefaultPort || uri.Port <= 0 ? (tls ? 5671 : 5672) : uri.Port;
        var vhost = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        var userInfo = uri.UserInfo.Split(':', 2);
        var user = userInfo.Length > 0 && userInfo[0].Length > 0 ? Uri.UnescapeDataString(userInfo[0]) : "guest";
        var password = userInfo.Length > 1 ? Uri.UnescapeDataString(userInfo[1]) : "guest";
        return new RabbitMqEndpoint(uri.Host, port, vhost.Length == 0 ? "/" : vhost, user, password, tls);
    }

    /// <summary>Fails fast with a clear line when nothing listens at the broker's address.</summary>
    public void EnsureReachable(string key, TimeSpan timeout)
    {
        using var client = new TcpClient();
        try
        {
            using var cts = new CancellationTokenSource(timeout);
            client.ConnectAsync(Host, Port, cts.Token).AsTask().GetAwaiter().GetResult();
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            var why = ex is SocketException se ? se.SocketErrorCode.ToString() : "timed out";
            throw new RouteIQConfigurationException(key, $"cannot reach the broker at {Host}:{Port} ({why})");
        }
    }

    public override string ToString() => $"amqp{(UseTls ? "s" : "")}://{Username}@{Host}:{Port}/{VirtualHost.TrimStart('/')}";
}
