using Microsoft.AspNetCore.Components.QuickGrid;

namespace RouteIQ.GatewayAdmin.Ui.Components.Shared;

/// <summary>QuickGrid's <c>TemplateColumn</c> under a name MudBlazor does not also use (both libraries have one).</summary>
public sealed class QuickGridColumn<TGridItem> : TemplateColumn<TGridItem>;
