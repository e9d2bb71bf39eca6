package httpadapter

func (h *Handler) renditionRoutes() []route { return nil }
