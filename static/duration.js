// A span of time as people say it: "3 min 12 s", "3 分 12 秒".

export function formatDuration(lang, seconds) {
  const s = Math.max(0, Math.round(seconds));
  const [h, m, rest] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
  if (lang === "zh") return h ? `${h} 小时 ${m} 分` : m ? `${m} 分 ${rest} 秒` : `${rest} 秒`;
  return h ? `${h} h ${m} min` : m ? `${m} min ${rest} s` : `${rest} s`;
}
