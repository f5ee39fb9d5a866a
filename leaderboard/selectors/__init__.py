"""Page read models over the DailyUsage rollup. Each makes a fixed number of queries."""
