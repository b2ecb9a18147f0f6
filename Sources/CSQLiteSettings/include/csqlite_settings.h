#ifndef CSQLITE_SETTINGS_H
#define CSQLITE_SETTINGS_H

/// Turns off SQLite's memory statistics for the whole process (SQLITE_CONFIG_MEMSTATUS = 0), so
/// that no allocation inside SQLite takes its global statistics mutex. SQLite accepts this only
/// before it initialises; returns SQLITE_OK, or SQLITE_MISUSE when it is too late (harmless: the
/// statistics then stay on). sqlite3_config is variadic, which Swift cannot call.
int caucus_sqlite_disable_memory_statistics(void);

#endif
