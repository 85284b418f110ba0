-- Placeholder for helper C's migration 0011 of issue 14 (connections'
-- secrets), so that 0012 applies in this branch: drop this file when the
-- real 0011 is merged.
SELECT 1;
