using System.Text.Json.Nodes;
using RouteIQ.ServiceDefaults;

namespace RouteIQ.Foundation.Tests;

/// <summary>Redaction by name and by value: what the admin API shows never carries a credential.</summary>
public sealed class SecretRedactionTests
{
    [Theory]
    [InlineData("DB_PASSWD")]
    [InlineData("GITHUB_PAT")]
    [InlineData("GOOGLE_APPLICATION_CREDENTIALS")]
    [InlineData("AWS_CREDENTIAL")]
    [InlineData("hf_token")]
    [InlineData("SMTP_PASS")]
    [InlineData("MYSQL_PWD")]
    [InlineData("SENTRY_DSN")]
    [InlineData("OAUTH_CLIENT_SECRET")]
    [InlineData("Api.Key")]
    [InlineData("PRIVATE_KEY_PEM")]
    public void Secret_looking_names_are_recognised(string name) => Assert.True(SecretRedaction.LooksSecretName(name), name);

    [Theory]
    [InlineData("ROUTER_TYPE")]
    [InlineData("EPOCHS")]
    [InlineData("PATHWAY")]
    [InlineData("COMPASS_URL")]
    public void Ordinary_names_are_left_readable(string name) => Assert.False(SecretRedaction.LooksSecretName(name), name);

    [Theory]
    [InlineData("http://user:hunter2@proxy.internal:3128", "hunter2")]
    [InlineData("postgres://routeiq:s3cr3t-pw@db:5432/routeiq", "s3cr3t-pw")]
    [InlineData("amqp://guest:guestpass@rabbit/vhost", "guestpass")]
    [InlineData("https://ghp_abcdefghijklmnopqrstuvwxyz0123@github.com/org/repo.git", "ghp_abcdefghijklmnopqrstuvwxyz0123")]
    [InlineData("Host=db;Username=routeiq;Password=p4ssw0rd;Database=x", "p4ssw0rd")]
    [InlineData("s3://bucket/data?X-Amz-Signature=deadbeefcafe&X-Amz-Credential=AKIAABCDEFGHIJKLMNOP", "deadbeefcafe")]
    [InlineData("--api-key=abc123456789", "abc123456789")]
    [InlineData("token github_pat_11AAAAAAA0abcdefghijklmnopqrstuvwxyz in the log", "github_pat_11AAAAAAA0abcdefghijklmnopqrstuvwxyz")]
    [InlineData("key AKIAABCDEFGHIJKLMNOP", "AKIAABCDEFGHIJKLMNOP")]
    [InlineData("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", "eyJhbGciOiJIUzI1NiJ9")]
    [InlineData("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ\n-----END PRIVATE KEY-----", "MC4CAQAwBQYDK2VwBCIEIJ")]
    public void Credentials_inside_values_are_masked_and_the_rest_stays(string value, string secret)
    {
        var redacted = SecretRedaction.RedactValue(value);
        Assert.DoesNotContain(secret, redacted);
        Assert.Contains(SecretRedaction.Mask, redacted);
    }

    [Fact]
    public void Urls_keep_their_host_and_plain_values_are_untouched()
    {
        Assert.Equal("http://***@proxy.internal:3128/x", SecretRedaction.RedactValue("http://user:pw@proxy.internal:3128/x"));
        Assert.Equal("s3://routeiq/datasets/ds-1/", SecretRedaction.RedactValue("s3://routeiq/datasets/ds-1/"));
        Assert.Equal("manifest signature: does not match", SecretRedaction.RedactValue("manifest signature: does not match"));
    }

    [Fact]
    public void Environments_and_json_documents_are_redacted_by_name_and_by_value()
    {
        var env = SecretRedaction.RedactEnvironment(new Dictionary<string, string>
        {
            ["DB_PASSWD"] = "plain", ["HTTPS_PROXY"] = "http://u:proxypw@p:1", ["K"] = "10",
        });
        Assert.Equal(SecretRedaction.Mask, env["DB_PASSWD"]);
        Assert.Equal("http://***@p:1", env["HTTPS_PROXY"]);
        Assert.Equal("10", env["K"]);

        var doc = JsonNode.Parse("""{"a":{"b":["x","https://me:pw123456@h/"]},"c":"Password=zzz;"}""")!;
        SecretRedaction.RedactStrings(doc);
        Assert.DoesNotContain("pw123456", doc.ToJsonString());
        Assert.DoesNotContain("zzz", doc.ToJsonString());
    }
}
