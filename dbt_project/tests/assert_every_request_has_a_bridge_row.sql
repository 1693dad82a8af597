-- No request without a bridge row (and none the bridge invented).
select h.api_request_hk, 'missing from bridge' as problem
from {{ ref('stg_hub_api_request') }} as h
where not h.is_ghost
  and exists (select 1 from {{ ref('stg_sat_api_request_details') }} as d where d.api_request_hk = h.api_request_hk)
  and not exists (select 1 from {{ ref('bridge_api_request') }} as b where b.api_request_hk = h.api_request_hk)
union all
select b.api_request_hk, 'not in the vault'
from {{ ref('bridge_api_request') }} as b
where not exists (select 1 from {{ ref('stg_hub_api_request') }} as h where h.api_request_hk = b.api_request_hk)
