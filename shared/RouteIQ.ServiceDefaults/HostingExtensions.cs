using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;

namespace RouteIQ.ServiceDefaults;

public static class HostingExtensions
{
    /// <summary>Listens on <paramref name="url"/> unless <c>--urls</c>, <c>ASPNETCORE_URLS</c> or <c>urls</c> says otherwise.</summary>
    public static WebApplicationBuilder UseDefaultUrls(this WebApplicationBuilder builder, string url)
    {
        if (string.IsNullOrWhiteSpace(builder.Configuration["urls"])
            && string.IsNullOrWhiteSpace(builder.Configuration["ASPNETCORE_URLS"])
            && string.IsNullOrWhiteSpace(builder.Configuration["http_ports"]))
        {
            builder.WebHost.UseUrls(url);
        }
        return builder;
    }
}
