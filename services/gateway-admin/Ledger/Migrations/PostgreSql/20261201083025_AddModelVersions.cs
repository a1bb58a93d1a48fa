using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace RouteIQ.GatewayAdmin.Ledger.Migrations.PostgreSql
{
    /// <inheritdoc />
    public partial class AddModelVersions : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "model_versions",
                schema: "gateway_admin",
                columns: table => new
                {
                    ModelName = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    Version = table.Column<int>(type: "integer", nullable: false),
                    JobId = table.Column<Guid>(type: "uuid", nullable: false),
                    Trainer = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: true),
                    CreatedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    FinishedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    Quality = table.Column<double>(type: "double precision", nullable: true),
                    Price = table.Column<double>(type: "double precision", nullable: true),
                    MetricsJson = table.Column<string>(type: "text", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_model_versions", x => new { x.ModelName, x.Version });
                });

            // The versions already in the ledger (newest job first wins a duplicate); unreadable results are left out.
            migrationBuilder.Sql("""
                DO $$
                DECLARE r record; j jsonb;
                BEGIN
                  FOR r IN SELECT "Id", "Trainer", "ModelName", "CreatedAt", "FinishedAt", "TrainResultJson" FROM gateway_admin.jobs
                           WHERE "Kind" = 'train' AND "TrainResultJson" IS NOT NULL ORDER BY "CreatedAt" DESC LOOP
                    BEGIN
                      j := r."TrainResultJson"::jsonb;
                      IF jsonb_typeof(j->'version') = 'number' THEN
                        INSERT INTO gateway_admin.model_versions ("ModelName", "Version", "JobId", "Trainer", "CreatedAt", "FinishedAt", "Quality", "Price", "MetricsJson")
                        VALUES (COALESCE(j->>'registered_model', r."ModelName", r."Trainer", '?'), (j->>'version')::int, r."Id", r."Trainer", r."CreatedAt", r."FinishedAt",
                          CASE WHEN jsonb_typeof(j->'metrics'->'avg_quality') = 'number' THEN (j->'metrics'->>'avg_quality')::float8
                               WHEN jsonb_typeof(j->'metrics'->'quality') = 'number' THEN (j->'metrics'->>'quality')::float8 END,
                          CASE WHEN jsonb_typeof(j->'metrics'->'avg_price') = 'number' THEN (j->'metrics'->>'avg_price')::float8
                               WHEN jsonb_typeof(j->'metrics'->'price') = 'number' THEN (j->'metrics'->>'price')::float8 END,
                          CASE WHEN jsonb_typeof(j->'metrics') = 'object' THEN (j->'metrics')::text ELSE '{}' END)
                        ON CONFLICT DO NOTHING;
                      END IF;
                    EXCEPTION WHEN others THEN NULL;
                    END;
                  END LOOP;
                END $$;
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "model_versions",
                schema: "gateway_admin");
        }
    }
}
