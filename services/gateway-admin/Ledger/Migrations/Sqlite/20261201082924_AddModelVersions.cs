using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace RouteIQ.GatewayAdmin.Ledger.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class AddModelVersions : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "model_versions",
                columns: table => new
                {
                    ModelName = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    Version = table.Column<int>(type: "INTEGER", nullable: false),
                    JobId = table.Column<Guid>(type: "TEXT", nullable: false),
                    Trainer = table.Column<string>(type: "TEXT", maxLength: 200, nullable: true),
                    CreatedAt = table.Column<long>(type: "INTEGER", nullable: false),
                    FinishedAt = table.Column<long>(type: "INTEGER", nullable: true),
                    Quality = table.Column<double>(type: "REAL", nullable: true),
                    Price = table.Column<double>(type: "REAL", nullable: true),
                    MetricsJson = table.Column<string>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_model_versions", x => new { x.ModelName, x.Version });
                });

            // The versions already in the ledger (newest job first wins a duplicate); unreadable results are left out.
            migrationBuilder.Sql("""
                INSERT OR IGNORE INTO model_versions (ModelName, Version, JobId, Trainer, CreatedAt, FinishedAt, Quality, Price, MetricsJson)
                SELECT COALESCE(json_extract(TrainResultJson, '$.registered_model'), ModelName, Trainer, '?'),
                       json_extract(TrainResultJson, '$.version'), Id, Trainer, CreatedAt, FinishedAt,
                       CASE WHEN json_type(TrainResultJson, '$.metrics.avg_quality') IN ('integer', 'real') THEN json_extract(TrainResultJson, '$.metrics.avg_quality')
                            WHEN json_type(TrainResultJson, '$.metrics.quality') IN ('integer', 'real') THEN json_extract(TrainResultJson, '$.metrics.quality') END,
                       CASE WHEN json_type(TrainResultJson, '$.metrics.avg_price') IN ('integer', 'real') THEN json_extract(TrainResultJson, '$.metrics.avg_price')
                            WHEN json_type(TrainResultJson, '$.metrics.price') IN ('integer', 'real') THEN json_extract(TrainResultJson, '$.metrics.price') END,
                       CASE WHEN json_type(TrainResultJson, '$.metrics') = 'object' THEN json_extract(TrainResultJson, '$.metrics') ELSE '{}' END
                FROM jobs
                WHERE Kind = 'train' AND CASE WHEN json_valid(TrainResultJson) THEN json_type(TrainResultJson, '$.version') END = 'integer'
                ORDER BY CreatedAt DESC;
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "model_versions");
        }
    }
}
