using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace RouteIQ.TelemetryIngest.Store.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class Initial : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "datasets",
                columns: table => new
                {
                    dataset_id = table.Column<string>(type: "TEXT", nullable: false),
                    created_at_ms = table.Column<long>(type: "INTEGER", nullable: false),
                    uri = table.Column<string>(type: "TEXT", nullable: false),
                    total_records = table.Column<long>(type: "INTEGER", nullable: false),
                    train_records = table.Column<long>(type: "INTEGER", nullable: false),
                    test_records = table.Column<long>(type: "INTEGER", nullable: false),
                    unique_queries = table.Column<long>(type: "INTEGER", nullable: false),
                    metadata_json = table.Column<string>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_datasets", x => x.dataset_id);
                });

            migrationBuilder.CreateTable(
                name: "decisions",
                columns: table => new
                {
                    event_id = table.Column<string>(type: "TEXT", nullable: false),
                    timestamp_ms = table.Column<long>(type: "INTEGER", nullable: false),
                    ingested_at_ms = table.Column<long>(type: "INTEGER", nullable: false),
                    source = table.Column<string>(type: "TEXT", nullable: false),
                    kind = table.Column<string>(type: "TEXT", nullable: false),
                    contract_version = table.Column<string>(type: "TEXT", nullable: true),
                    trace_id = table.Column<string>(type: "TEXT", nullable: true),
                    span_id = table.Column<string>(type: "TEXT", nullable: true),
                    parent_span_id = table.Column<string>(type: "TEXT", nullable: true),
                    requested_model = table.Column<string>(type: "TEXT", nullable: true),
                    query_length = table.Column<int>(type: "INTEGER", nullable: true),
                    user_id = table.Column<string>(type: "TEXT", nullable: true),
                    team_id = table.Column<string>(type: "TEXT", nullable: true),
                    api_type = table.Column<string>(type: "TEXT", nullable: true),
                    strategy_name = table.Column<string>(type: "TEXT", nullable: true),
                    strategy_version = table.Column<string>(type: "TEXT", nullable: true),
                    selected_deployment = table.Column<string>(type: "TEXT", nullable: true),
                    selection_reason = table.Column<string>(type: "TEXT", nullable: true),
                    candidate_count = table.Column<int>(type: "INTEGER", nullable: false),
                    experiment_id = table.Column<string>(type: "TEXT", nullable: true),
                    experiment_variant = table.Column<string>(type: "TEXT", nullable: true),
                    total_ms = table.Column<double>(type: "REAL", nullable: true),
                    strategy_ms = table.Column<double>(type: "REAL", nullable: true),
                    embedding_ms = table.Column<double>(type: "REAL", nullable: true),
                    candidate_filter_ms = table.Column<double>(type: "REAL", nullable: true),
                    outcome_status = table.Column<string>(type: "TEXT", nullable: true),
                    error_type = table.Column<string>(type: "TEXT", nullable: true),
                    error_message = table.Column<string>(type: "TEXT", nullable: true),
                    input_tokens = table.Column<long>(type: "INTEGER", nullable: true),
                    output_tokens = table.Column<long>(type: "INTEGER", nullable: true),
                    total_tokens = table.Column<long>(type: "INTEGER", nullable: true),
                    fallback_triggered = table.Column<bool>(type: "INTEGER", nullable: false),
                    fallback_reason = table.Column<string>(type: "TEXT", nullable: true),
                    original_model = table.Column<string>(type: "TEXT", nullable: true),
                    fallback_attempt = table.Column<int>(type: "INTEGER", nullable: true),
                    performance = table.Column<double>(type: "REAL", nullable: true),
                    query_text = table.Column<string>(type: "TEXT", nullable: true),
                    attributes_json = table.Column<string>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_decisions", x => x.event_id);
                });

            migrationBuilder.CreateTable(
                name: "rejected_events",
                columns: table => new
                {
                    id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    received_at_ms = table.Column<long>(type: "INTEGER", nullable: false),
                    source = table.Column<string>(type: "TEXT", nullable: false),
                    reason = table.Column<string>(type: "TEXT", nullable: false),
                    raw_body = table.Column<string>(type: "TEXT", nullable: false),
                    event_id = table.Column<string>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_rejected_events", x => x.id);
                });

            migrationBuilder.CreateIndex(
                name: "IX_decisions_timestamp_ms",
                table: "decisions",
                column: "timestamp_ms");

            migrationBuilder.CreateIndex(
                name: "IX_rejected_events_received_at_ms",
                table: "rejected_events",
                column: "received_at_ms");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "datasets");

            migrationBuilder.DropTable(
                name: "decisions");

            migrationBuilder.DropTable(
                name: "rejected_events");
        }
    }
}
