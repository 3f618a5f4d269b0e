/**
 * The type a ccx dashboard file must have: Grafana's published dashboard schema
 * (`Dashboard` of @grafana/schema), with each panel's `options` and `fieldConfig.defaults.custom`
 * typed by the schema of its panel plugin (stat, table, timeseries, bargauge, barchart, gauge,
 * piechart), as the JSON file spells it.
 *
 * Two adaptations, neither of which loosens a check:
 * - `Json<T>`: the schema's TypeScript enums become the values JSON holds (`"absolute"` for
 *   `ThresholdsMode.Absolute`); numeric enums stay numeric, so `"graphTooltip": 7` still fails.
 * - `Options<T>`: a panel plugin's options are all optional (Grafana fills in its defaults);
 *   every key given must exist and hold a value of the right type.
 */
import type {
  Dashboard,
  DataQuery,
  FieldConfig,
  FieldConfigSource,
  Panel,
  RowPanel,
} from '@grafana/schema';
import type * as BarChart from '@grafana/schema/dist/esm/raw/composable/barchart/panelcfg/x/BarChartPanelCfg_types.gen';
import type * as BarGauge from '@grafana/schema/dist/esm/raw/composable/bargauge/panelcfg/x/BarGaugePanelCfg_types.gen';
import type * as Gauge from '@grafana/schema/dist/esm/raw/composable/gauge/panelcfg/x/GaugePanelCfg_types.gen';
import type * as PieChart from '@grafana/schema/dist/esm/raw/composable/piechart/panelcfg/x/PieChartPanelCfg_types.gen';
import type * as Stat from '@grafana/schema/dist/esm/raw/composable/stat/panelcfg/x/StatPanelCfg_types.gen';
import type * as Table from '@grafana/schema/dist/esm/raw/composable/table/panelcfg/x/TablePanelCfg_types.gen';
import type * as TimeSeries from '@grafana/schema/dist/esm/raw/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen';

/** T as JSON spells it: string enums become the union of their values. */
export type Json<T> = T extends string
  ? `${T}`
  : T extends number | boolean | null | undefined
    ? T
    : T extends ReadonlyArray<infer U>
      ? Array<Json<U>>
      : T extends object
        ? { [K in keyof T]: Json<T[K]> }
        : T;

/** Every key optional, at every depth; the types of the keys given unchanged. */
export type Options<T> = T extends string | number | boolean | null | undefined
  ? T
  : T extends ReadonlyArray<infer U>
    ? Array<Options<U>>
    : T extends object
      ? { [K in keyof T]?: Options<T[K]> }
      : T;

/** A query of the ClickHouse datasource plugin (grafana-clickhouse-datasource) in SQL mode. */
export interface ClickHouseQuery extends DataQuery {
  datasource: { type: 'grafana-clickhouse-datasource'; uid: string };
  editorType: 'sql';
  /** 0 = time series, 1 = table. */
  format: 0 | 1;
  queryType: 'timeseries' | 'table';
  rawSql: string;
}

/** A panel of plugin T with options O and custom field config C. */
type PanelOf<T extends string, O, C> = Omit<Panel, 'type' | 'options' | 'fieldConfig' | 'targets'> & {
  type: T;
  options?: Options<O>;
  fieldConfig?: Omit<FieldConfigSource, 'defaults'> & {
    defaults: Omit<FieldConfig, 'custom'> & { custom?: Options<C> };
  };
  targets?: ClickHouseQuery[];
};

type CcxPanel =
  | PanelOf<'stat', Stat.Options, never>
  | PanelOf<'table', Table.Options, Table.FieldConfig>
  | PanelOf<'timeseries', TimeSeries.Options, TimeSeries.FieldConfig>
  | PanelOf<'bargauge', BarGauge.Options, never>
  | PanelOf<'barchart', BarChart.Options, BarChart.FieldConfig>
  | PanelOf<'gauge', Gauge.Options, never>
  | PanelOf<'piechart', PieChart.Options, PieChart.FieldConfig>;

export type GrafanaDashboard = Json<
  Omit<Dashboard, 'panels'> & { panels?: Array<CcxPanel | RowPanel> }
>;
