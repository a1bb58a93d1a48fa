using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace RouteIQ.Rollout.Registry.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class Initial : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "deployments",
                columns: table => new
                {
                    Id = table.Column<Guid>(type: "TEXT", nullable: false),
                    Sequence = table.Column<long>(type: "INTEGER", nullable: false),
                    ModelName = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    Version = table.Column<int>(type: "INTEGER", nullable: false),
                    Alias = table.Column<string>(type: "TEXT", nullable: true),
                    ModelUri = table.Column<string>(type: "TEXT", nullable: true),
                    ManifestUri = table.Column<string>(type: "TEXT", nullable: true),
                    ManifestSha256 = table.Column<string>(type: "TEXT", nullable: true),
                    ServeImage = table.Column<string>(type: "TEXT", nullable: true),
                    ServeCommandJson = table.Column<string>(type: "TEXT", nullable: true),
                    ServerUrl = table.Column<string>(type: "TEXT", nullable: true),
                    WorkloadName = table.Column<string>(type: "TEXT", nullable: true),
                    WorkloadId = table.Column<string>(type: "TEXT", nullable: true),
                    WorkloadKind = table.Column<string>(type: "TEXT", nullable: true),
                    Active = table.Column<bool>(type: "INTEGER", nullable: false),
                    IsRollback = table.Column<bool>(type: "INTEGER", nullable: false),
                    RollJobId = table.Column<Guid>(type: "TEXT", nullable: false),
                    TrainJobId = table.Column<Guid>(type: "TEXT", nullable: true),
                    PreviousDeploymentId = table.Column<Guid>(type: "TEXT", nullable: true),
                    PreviousModelName = table.Column<string>(type: "TEXT", nullable: true),
                    PreviousVersion = table.Column<int>(type: "INTEGER", nullable: true),
                    DeployedAt = table.Column<DateTimeOffset>(type: "TEXT", nullable: false),
                    RetiredAt = table.Column<DateTimeOffset>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_deployments", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "model_aliases",
                columns: table => new
                {
                    ModelName = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    Alias = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    Version = table.Column<int>(type: "INTEGER", nullable: false),
                    UpdatedAt = table.Column<DateTimeOffset>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_model_aliases", x => new { x.ModelName, x.Alias });
                });

            migrationBuilder.CreateTable(
                name: "model_versions",
                columns: table => new
                {
                    Id = table.Column<Guid>(type: "TEXT", nullable: false),
                    ModelName = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    Version = table.Column<int>(type: "INTEGER", nullable: false),
                    TrainJobId = table.Column<Guid>(type: "TEXT", nullable: false),
                    State = table.Column<string>(type: "TEXT", nullable: false),
                    Trainer = table.Column<string>(type: "TEXT", nullable: true),
                    ModelUri = table.Column<string>(type: "TEXT", nullable: true),
                    ManifestUri = table.Column<string>(type: "TEXT", nullable: true),
                    ManifestSha256 = table.Column<string>(type: "TEXT", nullable: true),
                    SignatureType = table.Column<string>(type: "TEXT", nullable: true),
                    ServeImage = table.Column<string>(type: "TEXT", nullable: true),
                    ServeCommandJson = table.Column<string>(type: "TEXT", nullable: true),
                    MetricsJson = table.Column<string>(type: "TEXT", nullable: true),
                    RunId = table.Column<string>(type: "TEXT", nullable: true),
                    CreatedAt = table.Column<DateTimeOffset>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_model_versions", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "models",
                columns: table => new
                {
                    Name = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    NextVersion = table.Column<int>(type: "INTEGER", nullable: false),
                    CreatedAt = table.Column<DateTimeOffset>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_models", x => x.Name);
                });

            migrationBuilder.CreateIndex(
                name: "IX_deployments_ModelName_Active",
                table: "deployments",
                columns: new[] { "ModelName", "Active" });

            migrationBuilder.CreateIndex(
                name: "IX_deployments_RollJobId",
                table: "deployments",
                column: "RollJobId");

            migrationBuilder.CreateIndex(
                name: "IX_deployments_Sequence",
                table: "deployments",
                column: "Sequence",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_model_versions_ModelName_Version",
                table: "model_versions",
                columns: new[] { "ModelName", "Version" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_model_versions_TrainJobId",
                table: "model_versions",
                column: "TrainJobId",
                unique: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "deployments");

            migrationBuilder.DropTable(
                name: "model_aliases");

            migrationBuilder.DropTable(
                name: "model_versions");

            migrationBuilder.DropTable(
                name: "models");
        }
    }
}
