// The server's records (tenants, projects, tasks, budgets, the store back ends) are part of its API.
@_exported import FerryServerStore
