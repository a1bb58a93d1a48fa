using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace RouteIQ.GatewayAdmin.Ledger.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class AddContinuousTraining : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "continuous_runs",
                columns: table => new
                {
                    Id = table.Column<Guid>(type: "TEXT", nullable: false),
                    Trainer = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    Trigger = table.Column<string>(type: "TEXT", maxLength: 32, nullable: false),
                    DetailsJson = table.Column<string>(type: "TEXT", nullable: false),
                    State = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    ClaimedAt = table.Column<long>(type: "INTEGER", nullable: false),
                    UpdatedAt = table.Column<long>(type: "INTEGER", nullable: false),
                    DatasetId = table.Column<string>(type: "TEXT", maxLength: 64, nullable: true),
                    JobId = table.Column<Guid>(type: "TEXT", nullable: true),
                    Error = table.Column<string>(type: "TEXT", nullable: true),
                    Instance = table.Column<string>(type: "TEXT", maxLength: 200, nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_continuous_runs", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "continuous_trainers",
                columns: table => new
                {
                    Trainer = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    Paused = table.Column<bool>(type: "INTEGER", nullable: false),
                    CreatedAt = table.Column<long>(type: "INTEGER", nullable: false),
                    ScheduleFrom = table.Column<long>(type: "INTEGER", nullable: false),
                    LastFiredAt = table.Column<long>(type: "INTEGER", nullable: true),
                    LastTrigger = table.Column<string>(type: "TEXT", maxLength: 32, nullable: true),
                    LastRunId = table.Column<Guid>(type: "TEXT", nullable: true),
                    WindowEnd = table.Column<long>(type: "INTEGER", nullable: true),
                    UpdatedAt = table.Column<long>(type: "INTEGER", nullable: false),
                    Revision = table.Column<int>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_continuous_trainers", x => x.Trainer);
                });

            migrationBuilder.CreateIndex(
                name: "IX_continuous_runs_Trainer_ClaimedAt",
                table: "continuous_runs",
                columns: new[] { "Trainer", "ClaimedAt" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "continuous_runs");

            migrationBuilder.DropTable(
                name: "continuous_trainers");
        }
    }
}
