using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace RouteIQ.TelemetryIngest.Store.Migrations.PostgreSql
{
    /// <inheritdoc />
    public partial class AddFeedback : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<double>(
                name: "selection_probability",
                schema: "telemetry",
                table: "decisions",
                type: "double precision",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "feedback",
                schema: "telemetry",
                columns: table => new
                {
                    feedback_id = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    decision_event_id = table.Column<string>(type: "text", nullable: true, collation: "C"),
                    trace_id = table.Column<string>(type: "text", nullable: true),
                    span_id = table.Column<string>(type: "text", nullable: true),
                    model_name = table.Column<string>(type: "text", nullable: true),
                    score = table.Column<double>(type: "double precision", nullable: false),
                    source = table.Column<string>(type: "text", nullable: false),
                    judge_model = table.Column<string>(type: "text", nullable: true),
                    rubric = table.Column<string>(type: "text", nullable: true),
                    timestamp_ms = table.Column<long>(type: "bigint", nullable: false),
                    ingested_at_ms = table.Column<long>(type: "bigint", nullable: false),
                    ingest_source = table.Column<string>(type: "text", nullable: false),
                    contract_version = table.Column<string>(type: "text", nullable: false),
                    attributes_json = table.Column<string>(type: "json", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_feedback", x => x.feedback_id);
                });

            migrationBuilder.CreateIndex(
                name: "IX_feedback_decision_event_id",
                schema: "telemetry",
                table: "feedback",
                column: "decision_event_id");

            migrationBuilder.CreateIndex(
                name: "IX_feedback_timestamp_ms",
                schema: "telemetry",
                table: "feedback",
                column: "timestamp_ms");

            migrationBuilder.CreateIndex(
                name: "IX_feedback_trace_id_span_id",
                schema: "telemetry",
                table: "feedback",
                columns: new[] { "trace_id", "span_id" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "feedback",
                schema: "telemetry");

            migrationBuilder.DropColumn(
                name: "selection_probability",
                schema: "telemetry",
                table: "decisions");
        }
    }
}
