using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace RouteIQ.TelemetryIngest.Store.Migrations.PostgreSql
{
    /// <inheritdoc />
    public partial class AddDriftStatistics : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "decision_window_stats",
                schema: "telemetry",
                columns: table => new
                {
                    window_start_ms = table.Column<long>(type: "bigint", nullable: false),
                    feature = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    value = table.Column<string>(type: "character varying(100)", maxLength: 100, nullable: false),
                    count = table.Column<long>(type: "bigint", nullable: false),
                    quality_sum = table.Column<double>(type: "double precision", nullable: false),
                    quality_count = table.Column<long>(type: "bigint", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_decision_window_stats", x => new { x.window_start_ms, x.feature, x.value });
                });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "decision_window_stats",
                schema: "telemetry");
        }
    }
}
