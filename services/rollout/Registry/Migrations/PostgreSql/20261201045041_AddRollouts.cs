using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace RouteIQ.Rollout.Registry.Migrations.PostgreSql
{
    /// <inheritdoc />
    public partial class AddRollouts : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "rollouts",
                schema: "rollout",
                columns: table => new
                {
                    Id = table.Column<Guid>(type: "uuid", nullable: false),
                    ModelName = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    FromVersion = table.Column<int>(type: "integer", nullable: true),
                    ToVersion = table.Column<int>(type: "integer", nullable: false),
                    Strategy = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    State = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    Step = table.Column<int>(type: "integer", nullable: false),
                    Weight = table.Column<double>(type: "double precision", nullable: false),
                    Paused = table.Column<bool>(type: "boolean", nullable: false),
                    StartedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    UpdatedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    Reason = table.Column<string>(type: "text", nullable: true),
                    PromotionJson = table.Column<string>(type: "text", nullable: false),
                    StatsJson = table.Column<string>(type: "text", nullable: true),
                    HistoryJson = table.Column<string>(type: "text", nullable: true),
                    CandidateDeploymentId = table.Column<Guid>(type: "uuid", nullable: true),
                    CandidateServerUrl = table.Column<string>(type: "text", nullable: true),
                    TrainJobId = table.Column<Guid>(type: "uuid", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_rollouts", x => x.Id);
                });

            migrationBuilder.CreateIndex(
                name: "IX_rollouts_ModelName_State",
                schema: "rollout",
                table: "rollouts",
                columns: new[] { "ModelName", "State" });

            migrationBuilder.CreateIndex(
                name: "IX_rollouts_StartedAt",
                schema: "rollout",
                table: "rollouts",
                column: "StartedAt");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "rollouts",
                schema: "rollout");
        }
    }
}
