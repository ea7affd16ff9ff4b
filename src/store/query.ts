import { OSLO_LEVEL_RANKS, SYSLOG_SEVERITY_RANKS } from '../parse/levels.js';

/** What `immutalog query` selects; every condition given must hold. */
export interface EntryFilter {
  sinceUs?: number;
  untilUs?: number;
  /** This rank and more severe (src/parse/levels.ts): the oslo.log level, else the syslog severity. */
  minLevel?: number;
  logger?: string;
  requestId?: string;
  limit?: number;
}

/** The SELECT over entries, in sequence order, for a filter, with its named parameters. */
export function entryQuery(filter: EntryFilter): { sql: string; params: Record<string, unknown> } {
  const where: string[] = [];
  const params: Record<string, unknown> = {};
  if (filter.sinceUs !== undefined) {
    where.push('received_at_us >= @since');
    params.since = filter.sinceUs;
  }
  if (filter.untilUs !== undefined) {
    where.push('received_at_us < @until');
    params.until = filter.untilUs;
  }
  if (filter.minLevel !== undefined) {
    where.push(`${levelRankSql()} >= @minLevel`);
    params.minLevel = filter.minLevel;
  }
  if (filter.logger !== undefined) {
    // A logger name selects itself and its children, as Python's logging hierarchy does.
    // Python logger names are case-sensitive, so no LIKE (which folds ASCII case).
    where.push("(json_extract(fields, '$.oslo.logger') = @logger OR substr(json_extract(fields, '$.oslo.logger'), 1, length(@logger) + 1) = @logger || '.')");
    params.logger = filter.logger;
  }
  if (filter.requestId !== undefined) {
    where.push("(json_extract(fields, '$.oslo.request_id') = @rid OR json_extract(fields, '$.oslo.global_request_id') = @rid)");
    params.rid = filter.requestId;
  }
  const sql = `SELECT * FROM entries ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY seq${
    filter.limit !== undefined ? ' LIMIT @limit' : ''
  }`;
  if (filter.limit !== undefined) params.limit = filter.limit;
  return { sql, params };
}

/** An entry's rank (src/parse/levels.ts): its oslo.log level's, else its syslog severity's. */
function levelRankSql(): string {
  const oslo = Object.entries(OSLO_LEVEL_RANKS).map(([name, rank]) => `WHEN '${name}' THEN ${rank}`).join(' ');
  const syslog = SYSLOG_SEVERITY_RANKS.map((rank, sev) => `WHEN ${sev} THEN ${rank}`).join(' ');
  return `coalesce(CASE upper(json_extract(fields, '$.oslo.level')) ${oslo} END, CASE json_extract(fields, '$.severity') ${syslog} END)`;
}
