"""The tier registry (梯度认定名单): the province's certified lists, uploaded by the admin and applied by USCC."""
