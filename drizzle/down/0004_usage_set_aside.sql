-- Reverts 0004_usage_set_aside.sql: usage events set aside go with their table.
DROP TABLE "usage_set_aside";
