// The statistics API (DESIGN §5) as the panels ask it, and the calendar arithmetic around it.
import { staffApi as api } from "/static/api.js";
import { language } from "/static/police-lang.js";

const pad = (n) => String(n).padStart(2, "0");

/** A local calendar date as YYYY-MM-DD (the browser runs in the service's zone on a command screen). */
export const isoDate = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;

export function addDays(d, days) {
  const moved = new Date(d);
  moved.setDate(moved.getDate() + days);
  return moved;
}

/** The same day a year earlier; 29 February becomes the 28th. */
export function yearEarlier(d) {
  const moved = new Date(d.getFullYear() - 1, d.getMonth(), d.getDate());
  if (moved.getMonth() !== d.getMonth()) moved.setDate(0);
  return moved;
}

export function statisticsUrl(params) {
  return `/api/v1/statistics?${new URLSearchParams(params)}`;
}

export function statistics(params, lang) {
  return api(statisticsUrl(params), { lang });
}

/** A row's label in the page's language now: the service sends both (``labels``), so a switch needs no new call. */
export const labelOf = (row) => row.labels?.[language()] ?? row.label;

/** A row's period cut to the length of ``key`` (YYYY-MM-DD for days, YYYY-MM for months). */
const periodOf = (row, length) => String(row.period).slice(0, length);

/**
 * ``field`` summed per period over ``rows``, in the order of ``periods`` (each YYYY-MM-DD or YYYY-MM);
 * a period with no row is 0, one whose only cells are suppressed is null (shown as a gap).
 */
export function perPeriod(rows, periods, field) {
  const length = periods[0]?.length ?? 10;
  const sums = new Map();
  for (const row of rows) {
    const key = periodOf(row, length);
    const known = sums.get(key) ?? { total: 0, shown: false };
    if (row[field] != null) Object.assign(known, { total: known.total + row[field], shown: true });
    sums.set(key, known);
  }
  return periods.map((p) => {
    const known = sums.get(p);
    if (!known) return 0;
    return known.shown ? known.total : null;
  });
}

export const sum = (values) => values.reduce((total, v) => total + (v ?? 0), 0);
