using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace RouteIQ.TelemetryIngest.Store.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class AddDriftStatistics : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "decision_window_stats",
                columns: table => new
                {
                    window_start_ms = table.Column<long>(type: "INTEGER", nullable: false),
                    feature = table.Column<string>(type: "TEXT", maxLength: 32, nullable: false),
                    value = table.Column<string>(type: "TEXT", maxLength: 100, nullable: false),
                    count = table.Column<long>(type: "INTEGER", nullable: false),
                    quality_sum = table.Column<double>(type: "REAL", nullable: false),
                    quality_count = table.Column<long>(type: "INTEGER", nullable: false)
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
                name: "decision_window_stats");
        }
    }
}
