using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace RouteIQ.TelemetryIngest.Store.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class AddFeedback : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<double>(
                name: "selection_probability",
                table: "decisions",
                type: "REAL",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "feedback",
                columns: table => new
                {
                    feedback_id = table.Column<string>(type: "TEXT", nullable: false),
                    decision_event_id = table.Column<string>(type: "TEXT", nullable: true),
                    trace_id = table.Column<string>(type: "TEXT", nullable: true),
                    span_id = table.Column<string>(type: "TEXT", nullable: true),
                    model_name = table.Column<string>(type: "TEXT", nullable: true),
                    score = table.Column<double>(type: "REAL", nullable: false),
                    source = table.Column<string>(type: "TEXT", nullable: false),
                    judge_model = table.Column<string>(type: "TEXT", nullable: true),
                    rubric = table.Column<string>(type: "TEXT", nullable: true),
                    timestamp_ms = table.Column<long>(type: "INTEGER", nullable: false),
                    ingested_at_ms = table.Column<long>(type: "INTEGER", nullable: false),
                    ingest_source = table.Column<string>(type: "TEXT", nullable: false),
                    contract_version = table.Column<string>(type: "TEXT", nullable: false),
                    attributes_json = table.Column<string>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_feedback", x => x.feedback_id);
                });

            migrationBuilder.CreateIndex(
                name: "IX_feedback_decision_event_id",
                table: "feedback",
                column: "decision_event_id");

            migrationBuilder.CreateIndex(
                name: "IX_feedback_timestamp_ms",
                table: "feedback",
                column: "timestamp_ms");

            migrationBuilder.CreateIndex(
                name: "IX_feedback_trace_id_span_id",
                table: "feedback",
                columns: new[] { "trace_id", "span_id" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "feedback");

            migrationBuilder.DropColumn(
                name: "selection_probability",
                table: "decisions");
        }
    }
}
