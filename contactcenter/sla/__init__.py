"""SLA engine: business calendars, policies, clocks, timers and the sweeper."""
