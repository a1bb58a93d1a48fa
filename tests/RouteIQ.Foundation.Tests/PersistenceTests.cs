using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RouteIQ.ServiceDefaults;
using RouteIQ.Testing;

namespace RouteIQ.Foundation.Tests;

public sealed class PersistenceTests
{
    public sealed class Note
    {
        public long Id { get; set; }
        public required string Text { get; set; }
        public DateTimeOffset At { get; set; }
    }

    public sealed class FirstContext(DbContextOptions<FirstContext> options) : DbContext(options)
    {
        public DbSet<Note> Notes => Set<Note>();
        protected override void OnModelCreating(ModelBuilder modelBuilder) => modelBuilder.UseRouteIQSchema(this, "first_svc");
    }

    public sealed class SecondContext(DbContextOptions<SecondContext> options) : DbContext(options)
    {
        public DbSet<Note> Notes => Set<Note>();
        protected override void OnModelCreating(ModelBuilder modelBuilder) => modelBuilder.UseRouteIQSchema(this, "second_svc");
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task EachServiceGetsItsOwnSchemaCreatedAtStartAndData(string provider)
    {
        var settings = new Dictionary<string, string?> { ["RouteIQ:DataDir"] = TestInfra.TempDirectory("persist") };
        if (provider == "postgres")
        {
            settings["ConnectionStrings:RouteIQ"] = await TestInfra.CreateDatabaseAsync("persist");
        }

        for (var run = 0; run < 2; run++) // the second start finds the schemas already there
        {
            var builder = Host.CreateApplicationBuilder();
            builder.Configuration.AddInMemoryCollection(settings);
            builder.AddRouteIQDbContext<FirstContext>("first_svc");
            builder.AddRouteIQDbContext<SecondContext>("second_svc");
            using var host = builder.Build();
            await host.StartAsync();

            await using (var scope = host.Services.CreateAsyncScope())
            {
                var first = scope.ServiceProvider.GetRequiredService<FirstContext>();
                first.Notes.Add(new Note { Text = $"first-{run}", At = DateTimeOffset.UtcNow });
                await first.SaveChangesAsync();
                var second = scope.ServiceProvider.GetRequiredService<SecondContext>();
                second.Notes.Add(new Note { Text = $"second-{run}", At = DateTimeOffset.UtcNow });
                await second.SaveChangesAsync();
            }

            var factory = host.Services.GetRequiredService<IDbContextFactory<FirstContext>>();
            await using (var context = await factory.CreateDbContextAsync())
            {
                var texts = await context.Notes.OrderBy(n => n.Id).Select(n => n.Text).ToListAsync();
                Assert.Equal(Enumerable.Range(0, run + 1).Select(i => $"first-{i}"), texts);
                Assert.Equal(provider == "postgres", context.Database.IsNpgsql());
            }
            await host.StopAsync();
        }
    }
}
