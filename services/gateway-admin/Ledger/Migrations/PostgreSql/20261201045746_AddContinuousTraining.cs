using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace RouteIQ.GatewayAdmin.Ledger.Migrations.PostgreSql
{
    /// <inheritdoc />
    public partial class AddContinuousTraining : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "continuous_runs",
                schema: "gateway_admin",
                columns: table => new
                {
                    Id = table.Column<Guid>(type: "uuid", nullable: false),
                    Trainer = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    Trigger = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    DetailsJson = table.Column<string>(type: "text", nullable: false),
                    State = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    ClaimedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    UpdatedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    DatasetId = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: true),
                    JobId = table.Column<Guid>(type: "uuid", nullable: true),
                    Error = table.Column<string>(type: "text", nullable: true),
                    Instance = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_continuous_runs", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "continuous_trainers",
                schema: "gateway_admin",
                columns: table => new
                {
                    Trainer = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    Paused = table.Column<bool>(type: "boolean", nullable: false),
                    CreatedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    ScheduleFrom = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    LastFiredAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    LastTrigger = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: true),
                    LastRunId = table.Column<Guid>(type: "uuid", nullable: true),
                    WindowEnd = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    UpdatedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    Revision = table.Column<int>(type: "integer", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_continuous_trainers", x => x.Trainer);
                });

            migrationBuilder.CreateIndex(
                name: "IX_continuous_runs_Trainer_ClaimedAt",
                schema: "gateway_admin",
                table: "continuous_runs",
                columns: new[] { "Trainer", "ClaimedAt" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "continuous_runs",
                schema: "gateway_admin");

            migrationBuilder.DropTable(
                name: "continuous_trainers",
                schema: "gateway_admin");
        }
    }
}
