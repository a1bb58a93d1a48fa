using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace RouteIQ.Rollout.Registry.Migrations.PostgreSql
{
    /// <inheritdoc />
    public partial class Initial : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.EnsureSchema(
                name: "rollout");

            migrationBuilder.CreateTable(
                name: "deployments",
                schema: "rollout",
                columns: table => new
                {
                    Id = table.Column<Guid>(type: "uuid", nullable: false),
                    Sequence = table.Column<long>(type: "bigint", nullable: false),
                    ModelName = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    Version = table.Column<int>(type: "integer", nullable: false),
                    Alias = table.Column<string>(type: "text", nullable: true),
                    ModelUri = table.Column<string>(type: "text", nullable: true),
                    ManifestUri = table.Column<string>(type: "text", nullable: true),
                    ManifestSha256 = table.Column<string>(type: "text", nullable: true),
                    ServeImage = table.Column<string>(type: "text", nullable: true),
                    ServeCommandJson = table.Column<string>(type: "text", nullable: true),
                    ServerUrl = table.Column<string>(type: "text", nullable: true),
                    WorkloadName = table.Column<string>(type: "text", nullable: true),
                    WorkloadId = table.Column<string>(type: "text", nullable: true),
                    WorkloadKind = table.Column<string>(type: "text", nullable: true),
                    Active = table.Column<bool>(type: "boolean", nullable: false),
                    IsRollback = table.Column<bool>(type: "boolean", nullable: false),
                    RollJobId = table.Column<Guid>(type: "uuid", nullable: false),
                    TrainJobId = table.Column<Guid>(type: "uuid", nullable: true),
                    PreviousDeploymentId = table.Column<Guid>(type: "uuid", nullable: true),
                    PreviousModelName = table.Column<string>(type: "text", nullable: true),
                    PreviousVersion = table.Column<int>(type: "integer", nullable: true),
                    DeployedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    RetiredAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_deployments", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "model_aliases",
                schema: "rollout",
                columns: table => new
                {
                    ModelName = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    Alias = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    Version = table.Column<int>(type: "integer", nullable: false),
                    UpdatedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_model_aliases", x => new { x.ModelName, x.Alias });
                });

            migrationBuilder.CreateTable(
                name: "model_versions",
                schema: "rollout",
                columns: table => new
                {
                    Id = table.Column<Guid>(type: "uuid", nullable: false),
                    ModelName = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    Version = table.Column<int>(type: "integer", nullable: false),
                    TrainJobId = table.Column<Guid>(type: "uuid", nullable: false),
                    State = table.Column<string>(type: "text", nullable: false),
                    Trainer = table.Column<string>(type: "text", nullable: true),
                    ModelUri = table.Column<string>(type: "text", nullable: true),
                    ManifestUri = table.Column<string>(type: "text", nullable: true),
                    ManifestSha256 = table.Column<string>(type: "text", nullable: true),
                    SignatureType = table.Column<string>(type: "text", nullable: true),
                    ServeImage = table.Column<string>(type: "text", nullable: true),
                    ServeCommandJson = table.Column<string>(type: "text", nullable: true),
                    MetricsJson = table.Column<string>(type: "text", nullable: true),
                    RunId = table.Column<string>(type: "text", nullable: true),
                    CreatedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_model_versions", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "models",
                schema: "rollout",
                columns: table => new
                {
                    Name = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    NextVersion = table.Column<int>(type: "integer", nullable: false),
                    CreatedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_models", x => x.Name);
                });

            migrationBuilder.CreateIndex(
                name: "IX_deployments_ModelName_Active",
                schema: "rollout",
                table: "deployments",
                columns: new[] { "ModelName", "Active" });

            migrationBuilder.CreateIndex(
                name: "IX_deployments_RollJobId",
                schema: "rollout",
                table: "deployments",
                column: "RollJobId");

            migrationBuilder.CreateIndex(
                name: "IX_deployments_Sequence",
                schema: "rollout",
                table: "deployments",
                column: "Sequence",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_model_versions_ModelName_Version",
                schema: "rollout",
                table: "model_versions",
                columns: new[] { "ModelName", "Version" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_model_versions_TrainJobId",
                schema: "rollout",
                table: "model_versions",
                column: "TrainJobId",
                unique: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "deployments",
                schema: "rollout");

            migrationBuilder.DropTable(
                name: "model_aliases",
                schema: "rollout");

            migrationBuilder.DropTable(
                name: "model_versions",
                schema: "rollout");

            migrationBuilder.DropTable(
                name: "models",
                schema: "rollout");
        }
    }
}
