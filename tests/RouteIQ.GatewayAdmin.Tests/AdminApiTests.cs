using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using RouteIQ.Testing;

namespace RouteIQ.GatewayAdmin.Tests;

/// <summary>The admin API over the ledger on real RabbitMQ + PostgreSQL, with test consumers playing runner and rollout.</summary>
[Trait("Category", "Integration")]
public sealed class AdminApiTests(LedgerFixture fixture) : IClassFixture<LedgerFixture>
{
    private AdminTestHost Host => fixture.Host;

    private static void Async(HttpRequestMessage r) => r.Headers.Add("Prefer", "respond-async");

    [Fact]
    public async Task Sync_train_answers_the_compatible_response()
    {
        var (status, body, _) = await Host.PostAsync("/admin/train/knn", new
        {
            parameters = new Dictionary<string, object?> { ["ROUTER_TYPE"] = "mlp", ["EPOCHS"] = 3, ["DEBUG"] = true, ["API_KEY"] = null, ["LAYERS"] = new[] { 64, 32 } },
        });

        Assert.Equal(200, status);
        Assert.Equal("knn", (string?)body["trainer"]);
        Assert.Equal("knn-router", (string?)body["registered_model"]);
        Assert.True((int?)body["version"] >= 1, body.ToJsonString());
        Assert.StartsWith("file:///tmp/registry/knn-router/", (string?)body["model_uri"]);
        Assert.Equal(0.9, (double?)body["metrics"]!["acc"]);
        Assert.Null(body["image_key"]);
        Assert.Equal("routeiq/router-server", (string?)body["serve_image"]);
        Assert.Null(body["logs_tail"]);
        Assert.Null(body["run_id"]);
        Assert.Equal(1.25, (double?)body["duration_seconds"]);
        Assert.StartsWith("routeiq-train-", (string?)body["container"]);
        var parameters = body["parameters"]!.AsObject();
        Assert.Equal("mlp", (string?)parameters["ROUTER_TYPE"]);
        Assert.Equal("3", (string?)parameters["EPOCHS"]);
        Assert.Equal("true", (string?)parameters["DEBUG"]);
        Assert.Equal("[64,32]", (string?)parameters["LAYERS"]);
        Assert.True(parameters.ContainsKey("API_KEY"));
        Assert.Null(parameters["API_KEY"]);

        // What the runner received: spec env + overrides, the null removing the spec's API_KEY.
        var jobId = Guid.Parse((string)body["job_id"]!);
        var sent = Assert.Single(fixture.Cluster.Dispatched, d => d.JobId == jobId);
        Assert.Equal("mlp", sent.Environment["ROUTER_TYPE"]);
        Assert.False(sent.Environment.ContainsKey("API_KEY"));
        Assert.Equal("routeiq/router-trainer", sent.Image);
        Assert.Equal(1800, sent.TimeoutSeconds);
        Assert.False(sent.RollOnSuccess);
    }

    [Fact]
    public async Task Image_key_selects_the_image_and_unknown_keys_list_the_available_ones()
    {
        var (status, body, _) = await Host.PostAsync("/admin/train/knn", new { image_key = "cuda" });
        Assert.Equal(200, status);
        Assert.Equal("cuda", (string?)body["image_key"]);
        Assert.Equal("routeiq/router-trainer:cuda", Assert.Single(fixture.Cluster.Dispatched, d => d.JobId == Guid.Parse((string)body["job_id"]!)).Image);

        var (bad, problem, response) = await Host.PostAsync("/admin/train/knn", new { image_key = "tpu" });
        Assert.Equal(400, bad);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("unknown trainer image key", (string?)problem["error"]);
        Assert.Equal("knn", (string?)problem["trainer"]);
        Assert.Equal("tpu", (string?)problem["image_key"]);
        Assert.Equal(["cpu", "cuda"], problem["available_keys"]!.AsArray().Select(n => (string)n!));
        Assert.Equal(400, (int?)problem["status"]);
        Assert.NotNull(problem["title"]);
    }

    [Fact]
    public async Task Unknown_trainer_is_404_problem_with_the_compatible_fields()
    {
        var (status, body, _) = await Host.PostAsync("/admin/train/nope", new { image_key = "" });
        Assert.Equal(404, status);
        Assert.Equal("trainer spec not found", (string?)body["error"]);
        Assert.Equal("nope", (string?)body["trainer"]);
        Assert.True(body.ContainsKey("image_key"));
        Assert.Null(body["image_key"]);
    }

    [Fact]
    public async Task A_failed_train_is_500_with_the_exit_code_and_the_last_1200_characters()
    {
        var (status, body, _) = await Host.PostAsync("/admin/train/failing", new { });
        Assert.Equal(500, status);
        Assert.Equal("trainer failed (exit=3)", (string?)body["error"]);
        var tail = (string)body["logs_tail"]!;
        Assert.Equal(1200, tail.Length);
        Assert.EndsWith("boom", tail);
        Assert.Equal("failing", (string?)body["trainer"]);
        Assert.True(body.ContainsKey("version"));
        Assert.True(body.ContainsKey("parameters"));

        var job = await Host.GetAsync($"/admin/jobs/{body["job_id"]}");
        Assert.Equal("failed", (string?)job.Body["state"]);
        Assert.Equal(500, (int?)job.Body["status_code"]);
    }

    [Fact]
    public async Task Train_then_roll_adds_rolled_alias_and_public_url()
    {
        var (status, body, _) = await Host.PostAsync("/admin/train_then_roll/knn", new { });
        Assert.Equal(200, status);
        Assert.True((bool?)body["rolled"]);
        Assert.Equal("production", (string?)body["alias"]);
        Assert.Equal("http://127.0.0.1:9/stable", (string?)body["public_url"]);
        Assert.True((int?)body["version"] >= 1);
        Assert.True(Assert.Single(fixture.Cluster.Dispatched, d => d.JobId == Guid.Parse((string)body["job_id"]!)).RollOnSuccess);
    }

    [Fact]
    public async Task A_rollout_failure_after_training_answers_the_rollouts_status_with_both_parts()
    {
        var (status, body, _) = await Host.PostAsync("/admin/train_then_roll/badroll", new { });
        Assert.Equal(503, status);
        Assert.Equal("rollout failed after successful training", (string?)body["error"]);
        Assert.Equal("candidate not healthy", (string?)body["rollout_error"]);
        Assert.Equal("badroll-model", (string?)body["training"]!["registered_model"]);
        Assert.False((bool?)body["training"]!["rolled"]);
    }

    [Fact]
    public async Task Async_train_answers_202_with_a_location_and_the_job_can_be_polled()
    {
        var (status, body, response) = await Host.PostAsync("/admin/train/knn", new { }, Async);
        Assert.Equal(202, status);
        var jobId = (string)body["job_id"]!;
        Assert.Equal($"/admin/jobs/{jobId}", response.Headers.Location?.OriginalString);

        var job = await Host.WaitForJobAsync(jobId, j => (string?)j["state"] == "succeeded", TimeSpan.FromSeconds(30));
        Assert.Equal("knn-router", (string?)job["result"]!["registered_model"]);
        Assert.NotNull(job["created_at"]);
        Assert.NotNull(job["started_at"]);
        Assert.NotNull(job["finished_at"]);
        Assert.Equal(1, (int?)job["attempt"]);

        var (_, byQuery, _) = await Host.PostAsync("/admin/train/knn?async=true", new { });
        Assert.Equal("queued", (string?)byQuery["state"]);

        var list = await Host.GetAsync("/admin/jobs?trainer=knn&state=succeeded");
        Assert.Contains(list.Body["jobs"]!.AsArray(), j => (string?)j!["job_id"] == jobId);
        Assert.All(list.Body["jobs"]!.AsArray(), j => Assert.Equal("succeeded", (string?)j!["state"]));
        Assert.Equal(400, (await Host.GetAsync("/admin/jobs?state=sleeping")).Status);
        Assert.Equal(404, (await Host.GetAsync($"/admin/jobs/{Guid.NewGuid()}")).Status);
    }

    [Fact]
    public async Task The_same_idempotency_key_returns_the_same_job_and_dispatches_once()
    {
        var key = Guid.NewGuid().ToString();
        void WithKey(HttpRequestMessage r)
        {
            Async(r);
            r.Headers.Add("Idempotency-Key", key);
        }

        var first = await Host.PostAsync("/admin/train/knn", new { }, WithKey);
        var second = await Host.PostAsync("/admin/train/knn", new { }, WithKey);
        var third = await Host.PostAsync("/admin/train/knn", new { }, r => r.Headers.Add("Idempotency-Key", key));

        Assert.Equal(first.Body["job_id"]!.ToString(), second.Body["job_id"]!.ToString());
        Assert.Equal(first.Body["job_id"]!.ToString(), third.Body["job_id"]!.ToString());
        Assert.Equal(200, third.Status);
        var jobId = Guid.Parse(first.Body["job_id"]!.ToString());
        // Every dispatch the three requests could have caused has been sent and consumed by the runner.
        await Host.SettledAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(1, fixture.Cluster.DispatchCount(jobId));
    }

    [Fact]
    public async Task A_roll_job_runs_once_rollout_has_its_request_instead_of_staying_queued()
    {
        var (status, body, _) = await Host.PostAsync("/admin/roll", new { name = "knn-router", @ref = 999 }, Async);
        Assert.Equal(202, status);
        var job = await Host.WaitForJobAsync((string)body["job_id"]!, j => (string?)j["state"] == "running", TimeSpan.FromSeconds(30));
        Assert.Equal("rolling", (string?)job["phase"]);
        Assert.NotNull(job["started_at"]);
    }

    [Fact]
    public async Task Cancel_stops_a_running_job_and_a_finished_job_cannot_be_cancelled()
    {
        var (_, body, _) = await Host.PostAsync("/admin/train/hanging", new { }, Async);
        var jobId = (string)body["job_id"]!;
        await Host.WaitForJobAsync(jobId, j => (string?)j["state"] == "running", TimeSpan.FromSeconds(30));

        using var response = await Host.Http.DeleteAsync($"/admin/jobs/{jobId}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var job = await Host.GetAsync($"/admin/jobs/{jobId}");
        Assert.Equal("cancelled", (string?)job.Body["state"]);
        await TestInfra.WaitUntilAsync(() => Task.FromResult(fixture.Cluster.Cancels.Any(c => c.JobId == Guid.Parse(jobId))),
            TimeSpan.FromSeconds(20), "CancelTrain on the bus");

        using var again = await Host.Http.DeleteAsync($"/admin/jobs/{jobId}");
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        using var missing = await Host.Http.DeleteAsync($"/admin/jobs/{Guid.NewGuid()}");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task A_synchronous_client_that_disconnects_does_not_cancel_the_job()
    {
        var before = DateTimeOffset.UtcNow;
        using (var impatient = new CancellationTokenSource(TimeSpan.FromSeconds(2)))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
                Host.Http.PostAsync("/admin/train/hanging", new StringContent("{}", Encoding.UTF8, "application/json"), impatient.Token));
        }

        // The job was created (a cold first request may still be committing it when the client gives up).
        JsonObject? job = null;
        await TestInfra.WaitUntilAsync(async () =>
        {
            var jobs = await Host.GetAsync("/admin/jobs?trainer=hanging&limit=50");
            job = jobs.Body["jobs"]!.AsArray().Select(j => j!.AsObject())
                .FirstOrDefault(j => DateTimeOffset.Parse((string)j["created_at"]!, System.Globalization.CultureInfo.InvariantCulture) >= before.AddSeconds(-1) && (string?)j["state"] != "cancelled");
            return job is not null;
        }, TimeSpan.FromSeconds(30), "the job of the disconnected request");
        var id = Guid.Parse((string)job!["job_id"]!);
        await Host.WaitForJobAsync(id.ToString(), j => (string?)j["state"] == "running", TimeSpan.FromSeconds(20));
        // The aborted request has been handled to its end and whatever it caused was sent and consumed.
        await Host.SettledAsync(TimeSpan.FromSeconds(30));
        Assert.Equal("running", (string?)(await Host.GetAsync($"/admin/jobs/{id}")).Body["state"]);
        Assert.DoesNotContain(fixture.Cluster.Cancels, c => c.JobId == id);
        using (await Host.Http.DeleteAsync($"/admin/jobs/{id}"))
        {
        }
    }

    [Fact]
    public async Task Logs_show_the_heartbeat_tail_while_running_and_the_failure_tail_after()
    {
        var (_, body, _) = await Host.PostAsync("/admin/train/hanging", new { }, Async);
        var jobId = (string)body["job_id"]!;
        await Host.WaitForJobAsync(jobId, j => (string?)j["last_heartbeat_at"] is not null, TimeSpan.FromSeconds(30));
        // TrainStarted already counts as a heartbeat; the tail arrives with the first TrainHeartbeat.
        string? tail = null;
        await TestInfra.WaitUntilAsync(async () => (tail = await Host.Http.GetStringAsync($"/admin/jobs/{jobId}/logs")).Length > 0,
            TimeSpan.FromSeconds(30), "the first heartbeat's log tail");
        Assert.Equal("epoch 1\n", tail);

        // follow=true streams the tail at once, then stays open until the job ends (here: cancelled).
        using var follow = await Host.Http.GetAsync($"/admin/jobs/{jobId}/logs?follow=true", HttpCompletionOption.ResponseHeadersRead);
        await using var stream = await follow.Content.ReadAsStreamAsync();
        var head = new byte[8];
        using (var firstBytes = new CancellationTokenSource(TimeSpan.FromSeconds(20)))
        {
            Assert.Equal(8, await stream.ReadAtLeastAsync(head, 8, throwOnEndOfStream: false, firstBytes.Token));
        }
        Assert.Equal("epoch 1\n", Encoding.UTF8.GetString(head));
        var rest = new StreamReader(stream).ReadToEndAsync();
        Assert.False(rest.IsCompleted);
        Assert.Equal("running", (string?)(await Host.GetAsync($"/admin/jobs/{jobId}")).Body["state"]);
        using (await Host.Http.DeleteAsync($"/admin/jobs/{jobId}"))
        {
        }
        await rest.WaitAsync(TimeSpan.FromSeconds(20));

        var (_, failed, _) = await Host.PostAsync("/admin/train/failing", new { });
        Assert.EndsWith("boom", await Host.Http.GetStringAsync($"/admin/jobs/{failed["job_id"]}/logs"));
    }

    [Fact]
    public async Task Admin_routes_need_a_key_but_status_and_health_do_not()
    {
        using var anonymous = new HttpClient { BaseAddress = new Uri(Host.BaseUrl) };
        using var train = await anonymous.PostAsync("/admin/train/knn", new StringContent("{}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Unauthorized, train.StatusCode);
        Assert.Equal("application/problem+json", train.Content.Headers.ContentType?.MediaType);
        using var jobs = await anonymous.GetAsync("/admin/jobs");
        Assert.Equal(HttpStatusCode.Unauthorized, jobs.StatusCode);

        anonymous.DefaultRequestHeaders.Add("X-API-Key", "wrong");
        using var wrong = await anonymous.GetAsync("/admin/trainers");
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);

        using var withKey = new HttpClient { BaseAddress = new Uri(Host.BaseUrl) };
        withKey.DefaultRequestHeaders.Add("X-API-Key", AdminTestHost.ApiKey);
        using var ok = await withKey.GetAsync("/admin/trainers");
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);

        using var live = await new HttpClient().GetAsync($"{Host.BaseUrl}/health/live");
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        using var status = await new HttpClient().GetAsync($"{Host.BaseUrl}/status");
        Assert.Equal(HttpStatusCode.OK, status.StatusCode);
    }

    [Fact]
    public async Task A_body_over_one_mebibyte_is_413_problem_json()
    {
        var big = "{\"parameters\":{\"X\":\"" + new string('a', 1024 * 1024 + 10) + "\"}}";
        var (status, body, response) = await Host.PostAsync("/admin/train/knn", big);
        Assert.Equal(413, status);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("request body too large", (string?)body["error"]);

        // Chunked (no Content-Length): Kestrel's limit trips while reading.
        using var request = new HttpRequestMessage(HttpMethod.Post, "/admin/train/knn")
        {
            Content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(big))),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.TransferEncodingChunked = true;
        using var chunked = await Host.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, chunked.StatusCode);
    }

    [Theory]
    [InlineData("/admin/train/knn", "{\"wait_seconds\": 5,", "body")]
    [InlineData("/admin/train/knn", "[1,2]", "body")]
    [InlineData("/admin/train/knn", "{\"wait_seconds\": \"soon\"}", "wait_seconds")]
    [InlineData("/admin/train/knn", "{\"wait_seconds\": 0}", "wait_seconds")]
    [InlineData("/admin/train/knn", "{\"image_key\": 1}", "image_key")]
    [InlineData("/admin/train/knn", "{\"parameters\": {\"BAD-NAME\": 1}}", "parameters.BAD-NAME")]
    [InlineData("/admin/roll", "{\"name\": \"knn-router\", \"ref\": \"latest\"}", "ref")]
    [InlineData("/admin/roll", "{\"name\": \"knn-router\", \"ref\": 2, \"wait_ready_seconds\": 901}", "wait_ready_seconds")]
    [InlineData("/admin/rollback", "{\"wait_ready_seconds\": true}", "wait_ready_seconds")]
    public async Task Malformed_bodies_and_wrong_types_are_400_naming_the_field(string path, string json, string field)
    {
        var (status, body, response) = await Host.PostAsync(path, json);
        Assert.Equal(400, status);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(field, (string?)body["field"]);
        Assert.NotNull(body["error"]);
    }

    [Fact]
    public async Task Roll_by_alias_and_by_version_and_the_registry_errors()
    {
        var (status, body, _) = await Host.PostAsync("/admin/roll", new { name = "knn-router", @ref = "@production", serve_image = "srv:1" });
        Assert.Equal(200, status);
        Assert.True((bool?)body["active"]);
        Assert.Equal("knn-router", (string?)body["name"]);
        Assert.Equal("srv:1", (string?)body["serve_image"]);
        foreach (var key in new[] { "url", "public_url", "version", "alias", "model_uri" })
        {
            Assert.True(body.ContainsKey(key), key);
        }
        Assert.Contains(fixture.Cluster.Rolls, r => r.Ref == "@production" && r.ModelName == "knn-router");

        var (byNumber, numbered, _) = await Host.PostAsync("/admin/roll", new { name = "knn-router", @ref = 3 });
        Assert.Equal(200, byNumber);
        Assert.Equal(3, (int?)numbered["version"]);
        var (byText, _, _) = await Host.PostAsync("/admin/roll", "{\"name\":\"knn-router\",\"ref\":\"3\"}");
        Assert.Equal(200, byText);

        var (missing, problem, _) = await Host.PostAsync("/admin/roll", new { name = "knn-router", @ref = "404" });
        Assert.Equal(404, missing);
        Assert.Equal("model version not found", (string?)problem["error"]);

        var (rollback, rolledBack, _) = await Host.PostAsync("/admin/rollback", new { name = "knn-router" });
        Assert.Equal(200, rollback);
        Assert.True((bool?)rolledBack["is_rollback"]);
        var (noPrevious, conflict, _) = await Host.PostAsync("/admin/rollback", new { name = "never-deployed" });
        Assert.Equal(409, noPrevious);
        Assert.Equal("no previous deployment recorded for rollback", (string?)conflict["error"]);
    }

    [Fact]
    public async Task Status_and_deployments_come_from_rollout()
    {
        var (status, body) = await Host.GetAsync("/status");
        Assert.Equal(200, status);
        Assert.True((bool?)body["active"]);
        Assert.Equal("knn-router", (string?)body["model_name"]);
        Assert.Equal(2, (int?)body["model_version"]);
        Assert.Equal(1, (int?)body["previous"]!["version"]);
        foreach (var key in new[] { "url", "public_url", "healthy", "model_uri", "model_alias", "serve_image", "deployed_at" })
        {
            Assert.True(body.ContainsKey(key), key);
        }

        var (none, empty) = await Host.GetAsync("/status?name=none");
        Assert.Equal(200, none);
        Assert.False((bool?)empty["active"]);

        var (ok, history) = await Host.GetAsync("/admin/deployments");
        Assert.Equal(200, ok);
        Assert.Equal(2, history["deployments"]!.AsArray().Count);
    }

    [Fact]
    public async Task Secrets_are_redacted_in_trainers_and_jobs()
    {
        var trainers = await Host.Http.GetStringAsync("/admin/trainers");
        Assert.DoesNotContain("supersecret-value", trainers);
        Assert.Contains("\"API_KEY\":\"***\"", trainers);

        var (_, body, _) = await Host.PostAsync("/admin/train/knn", new { parameters = new Dictionary<string, object> { ["DB_PASSWORD"] = "hunter2", ["LR"] = 0.1 } }, Async);
        var job = await Host.Http.GetStringAsync($"/admin/jobs/{body["job_id"]}");
        Assert.DoesNotContain("hunter2", job);
        Assert.DoesNotContain("supersecret-value", job);
        var done = await Host.WaitForJobAsync((string)body["job_id"]!, j => (string?)j["state"] == "succeeded", TimeSpan.FromSeconds(30));
        Assert.DoesNotContain("hunter2", done.ToJsonString());
        Assert.True("0.1" == (string?)done["result"]!["parameters"]!["LR"], done.ToJsonString());
    }

    [Fact]
    public async Task OpenApi_document_and_browsable_ui_are_served()
    {
        var doc = JsonNode.Parse(await Host.Http.GetStringAsync("/openapi/v1.json"))!;
        var paths = doc["paths"]!.AsObject();
        foreach (var path in new[] { "/admin/train/{trainer}", "/admin/train_then_roll/{trainer}", "/admin/roll", "/admin/rollback", "/admin/jobs", "/admin/jobs/{id}", "/admin/jobs/{id}/logs", "/admin/trainers", "/admin/deployments", "/status" })
        {
            Assert.True(paths.ContainsKey(path), path);
        }
        using var ui = await Host.Http.GetAsync("/scalar/v1");
        Assert.Equal(HttpStatusCode.OK, ui.StatusCode);
        Assert.Contains("text/html", ui.Content.Headers.ContentType?.MediaType);
    }
}
