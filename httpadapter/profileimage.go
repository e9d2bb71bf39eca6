package httpadapter

func (h *Handler) profileImageRoutes() []route { return nil }
