-- Paces each connection: one request, then this pause. With C connections the
-- rate is about C / (pause + latency); run.py picks C and the pause for ~500 req/s.
local pause = tonumber(os.getenv("BENCH_PAUSE_MS") or "20")
function delay()
  return pause
end
