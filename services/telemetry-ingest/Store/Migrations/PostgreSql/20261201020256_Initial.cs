using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

#nullable disable

namespace RouteIQ.TelemetryIngest.Store.Migrations.PostgreSql
{
    /// <inheritdoc />
    public partial class Initial : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.EnsureSchema(
                name: "telemetry");

            migrationBuilder.CreateTable(
                name: "datasets",
                schema: "telemetry",
                columns: table => new
                {
                    dataset_id = table.Column<string>(type: "text", nullable: false),
                    created_at_ms = table.Column<long>(type: "bigint", nullable: false),
                    uri = table.Column<string>(type: "text", nullable: false),
                    total_records = table.Column<long>(type: "bigint", nullable: false),
                    train_records = table.Column<long>(type: "bigint", nullable: false),
                    test_records = table.Column<long>(type: "bigint", nullable: false),
                    unique_queries = table.Column<long>(type: "bigint", nullable: false),
                    metadata_json = table.Column<string>(type: "json", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_datasets", x => x.dataset_id);
                });

            migrationBuilder.CreateTable(
                name: "decisions",
                schema: "telemetry",
                columns: table => new
                {
                    event_id = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    timestamp_ms = table.Column<long>(type: "bigint", nullable: false),
                    ingested_at_ms = table.Column<long>(type: "bigint", nullable: false),
                    source = table.Column<string>(type: "text", nullable: false),
                    kind = table.Column<string>(type: "text", nullable: false),
                    contract_version = table.Column<string>(type: "text", nullable: true),
                    trace_id = table.Column<string>(type: "text", nullable: true),
                    span_id = table.Column<string>(type: "text", nullable: true),
                    parent_span_id = table.Column<string>(type: "text", nullable: true),
                    requested_model = table.Column<string>(type: "text", nullable: true),
                    query_length = table.Column<int>(type: "integer", nullable: true),
                    user_id = table.Column<string>(type: "text", nullable: true),
                    team_id = table.Column<string>(type: "text", nullable: true),
                    api_type = table.Column<string>(type: "text", nullable: true),
                    strategy_name = table.Column<string>(type: "text", nullable: true),
                    strategy_version = table.Column<string>(type: "text", nullable: true),
                    selected_deployment = table.Column<string>(type: "text", nullable: true),
                    selection_reason = table.Column<string>(type: "text", nullable: true),
                    candidate_count = table.Column<int>(type: "integer", nullable: false),
                    experiment_id = table.Column<string>(type: "text", nullable: true),
                    experiment_variant = table.Column<string>(type: "text", nullable: true),
                    total_ms = table.Column<double>(type: "double precision", nullable: true),
                    strategy_ms = table.Column<double>(type: "double precision", nullable: true),
                    embedding_ms = table.Column<double>(type: "double precision", nullable: true),
                    candidate_filter_ms = table.Column<double>(type: "double precision", nullable: true),
                    outcome_status = table.Column<string>(type: "text", nullable: true),
                    error_type = table.Column<string>(type: "text", nullable: true),
                    error_message = table.Column<string>(type: "text", nullable: true),
                    input_tokens = table.Column<long>(type: "bigint", nullable: true),
                    output_tokens = table.Column<long>(type: "bigint", nullable: true),
                    total_tokens = table.Column<long>(type: "bigint", nullable: true),
                    fallback_triggered = table.Column<bool>(type: "boolean", nullable: false),
                    fallback_reason = table.Column<string>(type: "text", nullable: true),
                    original_model = table.Column<string>(type: "text", nullable: true),
                    fallback_attempt = table.Column<int>(type: "integer", nullable: true),
                    performance = table.Column<double>(type: "double precision", nullable: true),
                    query_text = table.Column<string>(type: "text", nullable: true),
                    attributes_json = table.Column<string>(type: "json", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_decisions", x => x.event_id);
                });

            migrationBuilder.CreateTable(
                name: "rejected_events",
                schema: "telemetry",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    received_at_ms = table.Column<long>(type: "bigint", nullable: false),
                    source = table.Column<string>(type: "text", nullable: false),
                    reason = table.Column<string>(type: "text", nullable: false),
                    raw_body = table.Column<string>(type: "text", nullable: false),
                    event_id = table.Column<string>(type: "text", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_rejected_events", x => x.id);
                });

            migrationBuilder.CreateIndex(
                name: "IX_decisions_timestamp_ms",
                schema: "telemetry",
                table: "decisions",
                column: "timestamp_ms");

            migrationBuilder.CreateIndex(
                name: "IX_rejected_events_received_at_ms",
                schema: "telemetry",
                table: "rejected_events",
                column: "received_at_ms");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "datasets",
                schema: "telemetry");

            migrationBuilder.DropTable(
                name: "decisions",
                schema: "telemetry");

            migrationBuilder.DropTable(
                name: "rejected_events",
                schema: "telemetry");
        }
    }
}
