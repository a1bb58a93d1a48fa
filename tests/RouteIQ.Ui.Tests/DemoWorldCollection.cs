namespace RouteIQ.Ui.Tests;

/// <summary>One demo world for every browser test (starting it takes most of a test run).</summary>
[CollectionDefinition(Name)]
public sealed class DemoWorldCollection : ICollectionFixture<DemoWorldFixture>
{
    public const string Name = "demo world";
}
