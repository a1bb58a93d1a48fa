using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace RouteIQ.Rollout.Registry.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class AddRollouts : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "rollouts",
                columns: table => new
                {
                    Id = table.Column<Guid>(type: "TEXT", nullable: false),
                    ModelName = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    FromVersion = table.Column<int>(type: "INTEGER", nullable: true),
                    ToVersion = table.Column<int>(type: "INTEGER", nullable: false),
                    Strategy = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    State = table.Column<string>(type: "TEXT", maxLength: 32, nullable: false),
                    Step = table.Column<int>(type: "INTEGER", nullable: false),
                    Weight = table.Column<double>(type: "REAL", nullable: false),
                    Paused = table.Column<bool>(type: "INTEGER", nullable: false),
                    StartedAt = table.Column<DateTimeOffset>(type: "TEXT", nullable: false),
                    UpdatedAt = table.Column<DateTimeOffset>(type: "TEXT", nullable: false),
                    Reason = table.Column<string>(type: "TEXT", nullable: true),
                    PromotionJson = table.Column<string>(type: "TEXT", nullable: false),
                    StatsJson = table.Column<string>(type: "TEXT", nullable: true),
                    HistoryJson = table.Column<string>(type: "TEXT", nullable: true),
                    CandidateDeploymentId = table.Column<Guid>(type: "TEXT", nullable: true),
                    CandidateServerUrl = table.Column<string>(type: "TEXT", nullable: true),
                    TrainJobId = table.Column<Guid>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_rollouts", x => x.Id);
                });

            migrationBuilder.CreateIndex(
                name: "IX_rollouts_ModelName_State",
                table: "rollouts",
                columns: new[] { "ModelName", "State" });

            migrationBuilder.CreateIndex(
                name: "IX_rollouts_StartedAt",
                table: "rollouts",
                column: "StartedAt");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "rollouts");
        }
    }
}
