namespace RouteIQ.Rollout.Tests;

/// <summary>
/// The serving workload the tests roll out: busybox <c>nc -ll</c> forking a shell handler per
/// connection, real HTTP on <c>SERVE_PORT</c>. <c>POST /invocations</c> answers
/// <c>{"model":…,"version":N}</c> with N read from <c>$SERVE_MODEL_URI/manifest.json</c> (or
/// <c>ROUTEIQ_MODEL_VERSION</c> when the model lives in S3); <c>GET /ping</c> answers 503 until
/// <c>READY_DELAY_SECONDS</c> (or the script's first argument) have passed, then 200.
/// Runs unchanged as a local process (host busybox) and in the <c>routeiq/busybox:test</c> image.
/// The handler reads the request with shell built-ins only (no <c>tr</c>/<c>head</c> per header):
/// a process start costs milliseconds on a loaded 2-core machine, and the zero-downtime test needs
/// dozens of requests per client while it rolls.
/// </summary>
public static class TestServer
{
    public const string Script = """
        set -e
        delay="${1:-${READY_DELAY_SECONDS:-0}}"
        export CR="$(printf '\r')"
        export READY_AT=$(( $(date +%s) + delay ))
        v=""
        if [ -f "$SERVE_MODEL_URI/manifest.json" ]; then
          v=$(sed -n 's/^ *"version": *"\([0-9]*\)".*/\1/p' "$SERVE_MODEL_URI/manifest.json" | head -n 1)
        fi
        export MODEL_VERSION="${v:-$ROUTEIQ_MODEL_VERSION}"
        mkdir -p /tmp; dir=$(mktemp -d)
        cat > "$dir/handler" <<'HANDLER'
        #!/bin/sh
        len=0
        read -r method path proto
        while IFS= read -r line; do
          line=${line%"$CR"}
          [ -z "$line" ] && break
          case "$line" in [Cc]ontent-[Ll]ength:*) len=${line#*:}; len=${len# };; esac
        done
        while [ "$len" -gt 0 ]; do
          IFS= read -r -n "$len" chunk || break
          len=$(( len - ${#chunk} - 1 ))
        done
        status="200 OK"
        case "$path" in
          /ping*) if [ "$(date +%s)" -ge "$READY_AT" ]; then body='{"status":"ok"}'; else status="503 Service Unavailable"; body='{"status":"starting"}'; fi ;;
          /invocations*) if [ "$method" = "POST" ]; then body="{\"model\":\"$ROUTEIQ_MODEL\",\"version\":$MODEL_VERSION}"; else status="405 Method Not Allowed"; body='{}'; fi ;;
          *) status="404 Not Found"; body='{}' ;;
        esac
        printf 'HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s' "$status" "${#body}" "$body"
        HANDLER
        chmod +x "$dir/handler"
        exec busybox nc -ll -p "$SERVE_PORT" -e "$dir/handler" >/dev/null 2>&1
        """;

    /// <summary>argv for the process launcher (host busybox); <paramref name="readyDelaySeconds"/> overrides the environment's delay.</summary>
    public static IReadOnlyList<string> ProcessCommand(int? readyDelaySeconds = null) =>
        readyDelaySeconds is { } d ? ["/bin/busybox", "sh", "-c", Script, "serve", d.ToString()] : ["/bin/busybox", "sh", "-c", Script];

    /// <summary>argv for the Docker launcher (<c>routeiq/busybox:test</c>).</summary>
    public static IReadOnlyList<string> DockerCommand(int? readyDelaySeconds = null) =>
        readyDelaySeconds is { } d ? ["sh", "-c", Script, "serve", d.ToString()] : ["sh", "-c", Script];
}
