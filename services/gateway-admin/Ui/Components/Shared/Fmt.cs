using System.Globalization;

namespace RouteIQ.GatewayAdmin.Ui.Components.Shared;

/// <summary>How the pages write times and numbers (UTC, invariant culture).</summary>
public static class Fmt
{
    public static string Time(DateTimeOffset? t) => t is { } v ? v.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + "Z" : "—";

    public static string Num(double? d, string format = "0.000") => d is { } v ? v.ToString(format, CultureInfo.InvariantCulture) : "—";

    public static string Duration(DateTimeOffset? from, DateTimeOffset? to)
        => from is { } a && to is { } b ? $"{(b - a).TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s" : "—";

    /// <summary>Ids are never shortened (sequential ids share their first digits).</summary>
    public static string Short(Guid id) => id.ToString();
}
